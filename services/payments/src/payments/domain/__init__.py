"""Payment rules: money, quotes, the transfer state machine and the ledger. No I/O."""
