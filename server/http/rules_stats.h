/* rules_stats.h - GET /api/stats/rules?from=YYYY-MM-DD&to=YYYY-MM-DD: what each rule achieved,
 * per day and in total (the last 7 days by default). The caller has checked the role
 * (marketers, admins) and the method. */
#ifndef BK_RULES_STATS_H
#define BK_RULES_STATS_H

#include "server.h"

typedef struct bk_rules_stats bk_rules_stats;

bk_rules_stats *bk_rules_stats_new(bk_server *server);  /* registers a script: before bk_store_start */
void bk_rules_stats_free(bk_rules_stats *stats);

void bk_rules_stats_handle(bk_rules_stats *stats, bk_http *request);

#endif
