"""From next-byte odds to what the user sees: policy, search, sampling, the session, the protocol."""
