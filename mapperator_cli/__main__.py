from mapperator_cli.app import main

main()
