from kopano.outbox.runner import main

main()
