"""The ledger and the quality report for the regulator, computed from stored cases."""
