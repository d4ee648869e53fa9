"""Time: the business calendar, the SLA policy and its deadlines, and when the periodic
sweeps run. It answers "when is this due?"; what to do about it is the bot's business."""
