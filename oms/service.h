/*
 * service.h — registers the OMS API's handlers on a transport server.
 */
#ifndef COR_OMS_SERVICE_H
#define COR_OMS_SERVICE_H

#include "directory.h"
#include "transport.h"

/* Registers every Oms method on s, answering from d. Before start. */
int oms_service_register(cor_server_t *s, oms_dir_t *d, cor_error_t *err);

#endif
