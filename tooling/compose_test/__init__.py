"""`make compose-test`: the image built from a clean tree with the classic builder, the compose
stack started on it, the reference journey from a window to hand-over run against the published
ports, every Kubernetes Deployment's and Job's command started in the image, then
`docker-compose down -v`. Base images are made locally from Debian's packages where no registry
answers (deploy/ci-images/README.md); without a Docker engine it says why and skips."""
