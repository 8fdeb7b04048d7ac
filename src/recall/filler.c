/* The words of the needle-in-a-haystack format: filler sentences drawn from five templates
 * with Philox (sentence i of a seed is the same on every machine), the keys, and the texts
 * of needles and questions. scripts/recall_data.py holds the same lists for training. */
#include <stdio.h>
#include <string.h>

#include "longctx/recall.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const nouns[] = {"grass", "sky",    "sun",   "moon",  "river",  "tree",   "stone", "road", "house", "field",
                                    "garden", "cloud", "wind",  "rain",  "snow",   "hill",   "lake",  "forest", "bird", "dog",
                                    "cat",   "horse",  "boat",  "bridge", "door",  "window", "wall",  "lamp", "book",  "table"};
static const char *const adjs[] = {"green", "blue", "yellow", "red",   "white", "black", "grey",   "brown", "old",  "new",  "tall",
                                   "short", "warm", "cold",   "quiet", "loud",  "bright", "dark", "soft",  "hard", "wide", "narrow"};
static const char *const places[] = {"market", "station", "harbor", "village", "castle", "library", "kitchen", "valley", "school", "tower"};
static const char *const names[] = {"Anna", "Bruno", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Irene", "Jonas", "Karl", "Laura"};
static const char *const verbs[] = {"saw", "found", "liked", "painted", "passed", "visited"};
static const char *const keys[] = {
    "apple",  "banana", "cherry", "grape",  "lemon",  "mango",   "melon",  "olive",   "peach",   "pear",   "plum",   "berry", "tiger",
    "lion",   "zebra",  "panda",  "koala",  "otter",  "falcon",  "eagle",  "raven",   "whale",   "shark",  "salmon", "ruby",  "amber",
    "coral",  "jade",   "pearl",  "opal",   "topaz",  "silver",  "piano",  "violin",  "guitar",  "flute",  "drum",   "harp",  "trumpet",
    "cello",  "rocket", "comet",  "planet", "galaxy", "meteor",  "orbit",  "nebula",  "quasar",  "pepper", "ginger", "garlic", "onion",
    "carrot", "potato", "tomato", "radish", "anchor", "compass", "lantern", "candle", "mirror", "ladder", "hammer", "kettle"};

/* The filler's stream of draws: its own seed, so that it never shares draws with the needles. */
#define FILLER_SALT 0x66696c6c65720000ull

static const char *pick(uint64_t seed, uint64_t i, int j, const char *const *list, size_t n) {
    return list[lc_rng_below(seed ^ FILLER_SALT, i * 8 + (uint64_t)j, n)];
}

size_t lc_niah_filler_sentence(uint64_t seed, uint64_t i, char *buf, size_t cap) {
    int n;
    switch (lc_rng_below(seed ^ FILLER_SALT, i * 8, 5)) {
    case 0: n = snprintf(buf, cap, " The %s is %s.", pick(seed, i, 1, nouns, COUNT(nouns)), pick(seed, i, 2, adjs, COUNT(adjs))); break;
    case 1:
        n = snprintf(buf, cap, " %s %s the %s %s near the %s.", pick(seed, i, 1, names, COUNT(names)), pick(seed, i, 2, verbs, COUNT(verbs)),
                     pick(seed, i, 3, adjs, COUNT(adjs)), pick(seed, i, 4, nouns, COUNT(nouns)), pick(seed, i, 5, places, COUNT(places)));
        break;
    case 2:
        n = snprintf(buf, cap, " The %s and the %s are %s.", pick(seed, i, 1, nouns, COUNT(nouns)), pick(seed, i, 2, nouns, COUNT(nouns)),
                     pick(seed, i, 3, adjs, COUNT(adjs)));
        break;
    case 3: n = snprintf(buf, cap, " Here we go."); break;
    default: n = snprintf(buf, cap, " There and back again."); break;
    }
    if (n < 0) n = 0;
    return cap && (size_t)n >= cap ? cap - 1 : (size_t)n;
}

void lc_niah_needle_text(const char *key, const char *value, char *buf, size_t cap) {
    snprintf(buf, cap, " The special magic number for %s is %s.", key, value);
}

void lc_niah_question_text(const char *key, int values, char *buf, size_t cap) {
    if (values <= 1)
        snprintf(buf, cap, " What is the special magic number for %s? The special magic number for %s is", key, key);
    else
        snprintf(buf, cap, " What are all the special magic numbers for %s? The special magic numbers for %s are", key, key);
}

const char *const *lc_niah_keys(int *n) {
    if (n) *n = (int)COUNT(keys);
    return keys;
}
