"""The host layer: set-up, purge and the daemons, shims, images and ledger behind them."""
