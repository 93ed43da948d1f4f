from helperhub.cli import main

main()
