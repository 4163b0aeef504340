/*
 * echo_class.h — the Echo class (apps/echo/echo.proto): Say echoes its
 * request, Add adds to a counter, Sleep sleeps. Its state is the counter,
 * so it can be saved and loaded.
 */
#ifndef COR_APP_ECHO_CLASS_H
#define COR_APP_ECHO_CLASS_H

#include <cor/cor.h>

/* Class name "echo.Echo". Static; register with cor_runtime_register_class. */
extern const cor_class_t echo_class;

#endif
