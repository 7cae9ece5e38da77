#!/bin/sh
# Runs one of Kafka's main classes on the image's jars (the official script's job, shortened).
set -eu
class=$1
shift
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} -XX:+UseSerialGC \
  -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
  -cp '/opt/kafka/libs/*' "$class" "$@"
