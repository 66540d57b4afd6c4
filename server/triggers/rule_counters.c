/* rule_counters.c - how often each rule was judged and matched, flushed to the day's stats. */
#include "triggers/triggers_internal.h"

#include "base/ids.h"
#include "base/keys.h"

#include <stdio.h>
#include <stdlib.h>

static size_t counter_slot(const bk_triggers *triggers, const char *id)
{
    uintptr_t h = (uintptr_t)id;
    h = (h >> 4) * (uintptr_t)11400714819323198485ull;
    return (size_t)h & (triggers->counter_slots - 1);
}

void triggers_rule_judged(const char *id, bool matches, void *data)
{
    bk_triggers *triggers = data;
    if (!triggers->counters)
        return;
    for (size_t i = counter_slot(triggers, id);; i = (i + 1) & (triggers->counter_slots - 1)) {
        triggers_rule_counter *c = &triggers->counters[i];
        if (c->id == id) {
            c->evaluated++;
            c->matched += matches;
            return;
        }
        if (!c->id)
            return;  /* not a rule of the current set */
    }
}

/* Adds the counts to today's stats and zeroes them. */
void triggers_counters_flush(bk_triggers *triggers)
{
    size_t used = 0;
    for (size_t i = 0; i < triggers->counter_slots; i++)
        if (triggers->counters[i].evaluated)
            used++;
    if (used == 0)
        return;
    const char **argv = malloc((2 + 3 * used) * sizeof *argv);
    char (*numbers)[2][12] = malloc(used * sizeof *numbers);
    char day[9];
    if (!argv || !numbers) {
        free(argv);
        free(numbers);
        return;
    }
    bk_day_string(bk_now_ms(), day);
    /* The node's counts over every site go into the slot of site "": the stats' readers add
     * up every slot (http/rules_stats.c). */
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(triggers->server->config->prefix, "", prefix);
    argv[0] = prefix;
    argv[1] = day;
    size_t n = 0;
    for (size_t i = 0; i < triggers->counter_slots; i++) {
        triggers_rule_counter *c = &triggers->counters[i];
        if (!c->evaluated)
            continue;
        snprintf(numbers[n][0], sizeof numbers[n][0], "%u", c->evaluated);
        snprintf(numbers[n][1], sizeof numbers[n][1], "%u", c->matched);
        argv[2 + 3 * n] = c->id;
        argv[3 + 3 * n] = numbers[n][0];
        argv[4 + 3 * n] = numbers[n][1];
        c->evaluated = c->matched = 0;
        n++;
    }
    /* Best effort: counts that cannot be written now are dropped, never retried twice. */
    bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_STATS_ADD], NULL, NULL, 0,
                    (int)(2 + 3 * n), argv, NULL);
    free(argv);
    free(numbers);
}

/* A new rule set: flush what the old one counted (its ids are still alive), then index the
 * new set's id pointers. */
void triggers_counters_rebuild(bk_triggers *triggers, const bk_rule_set *set)
{
    if (triggers->counters)
        triggers_counters_flush(triggers);
    free(triggers->counters);
    triggers->counters = NULL;
    triggers->counter_slots = 0;
    size_t count = bk_rule_set_count(set), slots = 16;
    while (slots < 2 * count)
        slots *= 2;
    triggers->counters = calloc(slots, sizeof *triggers->counters);
    if (!triggers->counters)
        return;
    triggers->counter_slots = slots;
    for (size_t r = 0; r < count; r++) {
        const char *id = bk_rule_set_id_at(set, r);
        size_t i = counter_slot(triggers, id);
        while (triggers->counters[i].id)
            i = (i + 1) & (slots - 1);
        triggers->counters[i].id = id;
    }
}
