"""Time: periodic sweeps that ask storage what is due (deadline reminders, escalations,
surveys, archiving) and hand it to the bot. Only decides *when*, never *what*.

The outbox dispatcher (`bot.dispatcher`) already delivers with retries; the sweeps
arrive with the SLA calendar.
"""
