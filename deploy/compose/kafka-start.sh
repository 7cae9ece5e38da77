#!/bin/sh
# The broker of docker-compose.yml, secured like the launcher's (tooling/infra/kafka.py): KRaft,
# one node; clients authenticate with SASL/SCRAM-SHA-512 and the StandardAuthorizer denies what
# no ACL allows; tongban-admin is the only super user (the `kafka-acls` job applies the ACL table
# as it); the controller listener takes only the admin (SASL PLAIN), and stays inside the
# container. The SCRAM users are written into the metadata when the log directory is formatted
# (first start only: --ignore-formatted keeps them on restarts; a volume formatted before a
# principal was added lacks it: `docker compose down -v` starts afresh).
set -eu
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_INTAKE_PASSWORD:?}" "${KAFKA_ROUTING_PASSWORD:?}"
: "${KAFKA_APPROVAL_PASSWORD:?}" "${KAFKA_DELIVERY_PASSWORD:?}" "${KAFKA_CLUSTER_ID:?}"
: "${KAFKA_AUDIT_WATCH_PASSWORD:?}" "${KAFKA_PORTAL_PASSWORD:?}" "${KAFKA_CONSULTATION_PASSWORD:?}"
: "${KAFKA_FEDERATION_PASSWORD:?}"

config=/tmp/server.properties
umask 077
scram=org.apache.kafka.common.security.scram.ScramLoginModule
plain=org.apache.kafka.common.security.plain.PlainLoginModule
cat > "$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=INTERNAL://0.0.0.0:9092,HOST://0.0.0.0:19092,CONTROLLER://localhost:9093
advertised.listeners=INTERNAL://kafka:9092,HOST://localhost:19092
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=$scram required username="tongban-admin" password="$KAFKA_ADMIN_PASSWORD";
listener.name.host.scram-sha-512.sasl.jaas.config=$scram required;
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=$plain required username="tongban-admin" password="$KAFKA_ADMIN_PASSWORD" user_tongban-admin="$KAFKA_ADMIN_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:tongban-admin
log.dirs=/var/lib/kafka/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
# Only the admin creates topics (the kafka-acls job), as on the launcher's broker.
auto.create.topics.enable=false
PROPERTIES

# What the healthcheck connects with.
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$scram required username="tongban-admin" password="$KAFKA_ADMIN_PASSWORD";
PROPERTIES

user() { echo "SCRAM-SHA-512=[name=$1,password=$2,iterations=4096]"; }
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted \
  --cluster-id "$KAFKA_CLUSTER_ID" --config "$config" \
  --add-scram "$(user tongban-admin "$KAFKA_ADMIN_PASSWORD")" \
  --add-scram "$(user intake "$KAFKA_INTAKE_PASSWORD")" \
  --add-scram "$(user routing "$KAFKA_ROUTING_PASSWORD")" \
  --add-scram "$(user approval "$KAFKA_APPROVAL_PASSWORD")" \
  --add-scram "$(user delivery "$KAFKA_DELIVERY_PASSWORD")" \
  --add-scram "$(user tongban-audit-watch "$KAFKA_AUDIT_WATCH_PASSWORD")" \
  --add-scram "$(user portal "$KAFKA_PORTAL_PASSWORD")" \
  --add-scram "$(user consultation "$KAFKA_CONSULTATION_PASSWORD")" \
  --add-scram "$(user federation "$KAFKA_FEDERATION_PASSWORD")"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
