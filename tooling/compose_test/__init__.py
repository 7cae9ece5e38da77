"""`make compose-test`: the image built from a clean tree with the classic builder, the compose
stack started on it (the federation gateway and the consultation service among its services),
the reference journey from a window to hand-over run against the published ports and the
fresh gateway checked (no partner trusted, its anchor exported), every Kubernetes Deployment's
and Job's command and every command compose runs in the image started in it with `--help`,
then `docker-compose down -v`. Base images are made locally from Debian's packages where no registry
answers (deploy/ci-images/README.md); without a Docker engine it says why and skips."""
