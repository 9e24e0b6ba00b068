/* mod_wsguard: httpd glue (placeholder while the glue is written). */
#include "httpd.h"
#include "http_config.h"

module AP_MODULE_DECLARE_DATA wsguard_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, NULL
};
