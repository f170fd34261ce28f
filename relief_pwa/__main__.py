from relief_pwa.cli import main

main()
