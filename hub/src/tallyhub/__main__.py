from tallyhub.cli import main

main()
