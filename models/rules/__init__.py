"""Pure rules: no database, no network, no clock (``now`` is passed in). Each function is testable alone."""
