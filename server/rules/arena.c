/* arena.c - see arena.h. */
#include "rules/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* A typical rule fits in one or two blocks of this size; small blocks keep
 * rules close together in memory, which matters when thousands are judged.
 * Bigger requests get their own block. */
#define ARENA_BLOCK_SIZE 2048

struct bk_arena_block {
    bk_arena_block *next;
    size_t used;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

void *bk_arena_alloc(bk_arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;

    bk_arena_block *block = arena->head;
    if (!block || block->size - block->used < size) {
        size_t capacity = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        block = malloc(sizeof *block + capacity);
        if (!block)
            return NULL;
        block->used = 0;
        block->size = capacity;
        /* Keep the block with free room in front, so a large one-off request
         * does not strand the rest of the current block. */
        if (arena->head && size > ARENA_BLOCK_SIZE) {
            block->next = arena->head->next;
            arena->head->next = block;
        } else {
            block->next = arena->head;
            arena->head = block;
        }
    }
    void *out = block->data + block->used;
    block->used += size;
    memset(out, 0, size);
    return out;
}

char *bk_arena_strndup(bk_arena *arena, const char *text, size_t len)
{
    char *copy = bk_arena_alloc(arena, len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

void bk_arena_free(bk_arena *arena)
{
    bk_arena_block *block = arena->head;
    while (block) {
        bk_arena_block *next = block->next;
        free(block);
        block = next;
    }
    arena->head = NULL;
}
