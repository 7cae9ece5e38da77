"""`python -m tooling.carrier_simulator`: the simulator in a process of its own."""

from tooling.carrier_simulator.server import main

if __name__ == "__main__":
    main()
