// Demo shop front end: show the upsell offer GrowthBook assigns, record the exposure and
// the conversion in the upsell_ab collector. Plain browser JavaScript, no build step.
//
// In a real shop these come from your page: the collector's URL, this site's write token
// (from the collector's tokens file), the customer's id and attributes. The demo reads
// them from the query string so a test can drive it.
"use strict";

const params = new URLSearchParams(window.location.search);
const COLLECTOR = params.get("collector") || "http://127.0.0.1:8000";
const TOKEN = params.get("token") || "";
const EXPERIMENT = params.get("experiment") || "cake_wording";
const customer = {
  customer_id: params.get("customer") || "",
  channel: params.get("channel") || "web",
};

const statusLine = document.getElementById("status");
function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

async function post(path, records) {
  // Retries are safe: every record carries its own event_id, and ingest keeps one copy.
  for (let attempt = 0; attempt < 3; attempt++) {
    const response = await fetch(COLLECTOR + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + TOKEN },
      body: JSON.stringify(records),
    });
    if (response.status === 202) return;
    if (response.status !== 429 && response.status < 500) {
      throw new Error(path + " refused: " + response.status + " " + (await response.text()));
    }
    await new Promise((done) => setTimeout(done, 500 * (attempt + 1)));
  }
  throw new Error(path + " failed after retries");
}

let exposure = Promise.resolve();

async function main() {
  // 1. The current payload (new weights arrive without a deploy; the ETag makes re-fetches cheap).
  const features = await fetch(COLLECTOR + "/v1/features").then((r) => r.json());

  // 2. GrowthBook assigns locally; its tracking callback records the exposure.
  const gb = new growthbook.GrowthBook({
    attributes: customer,
    trackingCallback: (experiment, result) => {
      exposure = post("/v1/exposures", [
        {
          experiment: experiment.key,
          variant: result.value.variant,
          unit_id: String(result.hashValue),
          event_id: crypto.randomUUID(),
          timestamp: new Date().toISOString(),
          attributes: { channel: customer.channel },
        },
      ]);
    },
  });
  gb.initSync({ payload: features });

  // 3. Render the offer (null: the customer is not in the experiment; show nothing).
  const assigned = gb.evalFeature(EXPERIMENT).value;
  if (!assigned || !assigned.offer) {
    setStatus("no-offer", "No offer for this customer");
    return;
  }
  const offer = assigned.offer;
  const item = (offer.items || [])[0];
  document.getElementById("offer-wording").textContent = offer.wording || "";
  document.getElementById("offer-item").textContent = item
    ? item.name + " — " + item.price + " " + (item.currency || "")
    : "";
  const section = document.getElementById("offer");
  section.dataset.variant = assigned.variant;
  section.hidden = false;
  await exposure;
  setStatus("exposed", "Offer shown (variant " + assigned.variant + ")");

  // 4. "Add to order" records the conversion the experiment's metric counts.
  const button = document.getElementById("add-to-order");
  button.addEventListener("click", async () => {
    button.disabled = true;
    await post("/v1/events", [
      {
        unit_id: customer.customer_id,
        event_type: "upsell_purchase",
        value: item ? item.price : 0,
        order_id: "order-" + crypto.randomUUID(),
        event_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
      },
    ]);
    setStatus("ordered", "Added to your order");
  });
}

main().catch((error) => setStatus("error", String(error)));
