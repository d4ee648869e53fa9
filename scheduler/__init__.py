"""Time: when the periodic sweeps run (`scheduler.sweeps`). Only decides *when*; what is
due and what to do about it are the bot's and storage's business."""
