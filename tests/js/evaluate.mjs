// Evaluate a GrowthBook SDK payload for many customers with the real JavaScript SDK.
// Usage: node evaluate.mjs INPUT.json  (INPUT: {"payload": {"features": ...},
//   "keys": [feature ids], "customers": [attributes objects]})
// Prints one JSON array per line per customer: for each key [source, variant or null,
//   experiment variationId or null, inExperiment] where source is GrowthBook's
//   FeatureResult.source ("experiment", "force", "defaultValue", ...).
import { readFileSync } from "node:fs";
import { GrowthBook } from "@growthbook/growthbook";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const gb = new GrowthBook({ attributes: {} });
gb.initSync({ payload: input.payload });
const out = [];
for (const attributes of input.customers) {
  gb.setAttributes(attributes);
  const row = [];
  for (const key of input.keys) {
    const result = gb.evalFeature(key);
    const value = result.value;
    row.push([
      result.source,
      value === null ? null : value.variant,
      result.experimentResult ? result.experimentResult.variationId : null,
      result.experimentResult ? result.experimentResult.inExperiment : null,
    ]);
  }
  out.push(JSON.stringify(row));
}
process.stdout.write(out.join("\n") + "\n");
