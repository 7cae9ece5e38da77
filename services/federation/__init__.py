"""The federation gateway (跨省通办): the only component that talks across the province border
(contracts/federation.md)."""
