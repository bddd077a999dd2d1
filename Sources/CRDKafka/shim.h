#ifndef PUMPHOUSE_CRDKAFKA_SHIM_H
#define PUMPHOUSE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#endif
