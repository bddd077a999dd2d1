#ifndef PUMPHOUSE_CLIBPQ_SHIM_H
#define PUMPHOUSE_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
