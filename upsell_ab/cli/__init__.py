"""The ``upsell-ab`` command line: one module per subcommand, registered in ``main``."""
