/* rules_dry_run.h - POST /api/rules/test: the rules tried without inviting anyone.
 *
 * {"visitor": "v_..."} explains every rule against that visitor's stored profile now;
 * {"visit": {"pages": [{url, at}, ...], ...}} walks a simulated visit through time, each page
 * an event and the engine's next_check_ms in between. "rules": [...] tries a draft instead of
 * the saved rules. The caller has checked the role (marketers, admins). */
#ifndef BK_RULES_DRY_RUN_H
#define BK_RULES_DRY_RUN_H

#include "server.h"

typedef struct bk_rules_dry_run bk_rules_dry_run;

bk_rules_dry_run *bk_rules_dry_run_new(bk_server *server);  /* registers a script: before bk_store_start */
void bk_rules_dry_run_free(bk_rules_dry_run *dry_run);

void bk_rules_dry_run_handle(bk_rules_dry_run *dry_run, bk_http *request);

#endif
