"""`python -m tooling.sms_gateway`: the simulator in a process of its own."""

from tooling.sms_gateway.server import main

if __name__ == "__main__":
    main()
