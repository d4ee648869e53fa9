from complaintbot.cli import main

main()
