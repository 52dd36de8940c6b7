from recdb.cli import main

main()
