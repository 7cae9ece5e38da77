"""The audit ledger (区块链信任机制) as both its keeper and its auditors read it: routing appends
and verifies with it (services.routing), `tongban audit verify` and `tongban audit watch` hold
routing to it without importing the service.

`ledger`: the chain's rules, pure functions over plain values; `entries`: the table the chain is
stored in and a run of its rows checked; `checkpoints`: the signed heads routing published, read
back from the retained topic; `verification`: the chain as stored held to them.
"""
