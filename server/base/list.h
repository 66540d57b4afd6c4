/* list.h - one intrusive, circular, doubly linked list for every list in the server.
 *
 * A struct that lives on a list embeds a bk_list; the list itself is a bk_list head. Nothing
 * is allocated: joining and leaving are a few pointer writes, which is why the server's
 * hot lists (open connections, sessions of a visitor, sockets waiting for hello) use it.
 * A node that has left (or was only initialised) points at itself, so leaving twice is safe
 * and bk_list_linked tells whether a node is on a list. */
#ifndef BK_LIST_H
#define BK_LIST_H

#include <stddef.h>

typedef struct bk_list {
    struct bk_list *prev, *next;
} bk_list;

/* A head, or a node not on any list yet. */
static inline void bk_list_init(bk_list *node)
{
    node->prev = node->next = node;
}

static inline int bk_list_empty(const bk_list *head)
{
    return head->next == head;
}

static inline int bk_list_linked(const bk_list *node)
{
    return node->next != node;
}

static inline void bk_list_insert_after(bk_list *at, bk_list *node)
{
    node->prev = at;
    node->next = at->next;
    at->next->prev = node;
    at->next = node;
}

static inline void bk_list_push_front(bk_list *head, bk_list *node)
{
    bk_list_insert_after(head, node);
}

static inline void bk_list_push_back(bk_list *head, bk_list *node)
{
    bk_list_insert_after(head->prev, node);
}

static inline void bk_list_remove(bk_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    bk_list_init(node);
}

/* The first node, or NULL when the list is empty. */
static inline bk_list *bk_list_first(const bk_list *head)
{
    return bk_list_empty(head) ? NULL : head->next;
}

/* The struct a node is embedded in. */
#define bk_list_entry(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Every node of head, in order. The body may remove `node` itself (not others): the next node
 * is read before the body runs. */
#define bk_list_each(node, head)                                                                    \
    for (bk_list *node = (head)->next, *node##_next = node->next; node != (head);                   \
         node = node##_next, node##_next = node->next)

#endif
