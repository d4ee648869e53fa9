from complaintbot.cli import main

# Guarded: the ledger export's second process imports this module again.
if __name__ == "__main__":
    main()
