from iofold.cli import main

main()
