from phoneservice.cli import main

main()
