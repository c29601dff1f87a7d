/* The floor of a module command: the least a module can do to serve NDARRAY.SET and NDARRAY.GET
 * FORMAT BLOB of a small array through the module API. benches/server_load.rs (small ops) and
 * benches/small_ops_instructions.sh load it beside redis-ndarray, so the gap between a plain SET/GET
 * and a module command is measured apart from what redis-ndarray adds on top.
 *
 *   FLOOR.SET key dtype n BLOB bytes   OpenKey, one allocation (header and bytes together),
 *                                      ModuleTypeSetValue (frees the old value), ReplicateVerbatim,
 *                                      +OK. Arguments 2-4 are not read: the same argument count as
 *                                      NDARRAY.SET, so Redis' own parsing costs the same.
 *   FLOOR.GET key FORMAT BLOB          OpenKey, the bytes as one bulk reply.
 *
 * Built by benches/floor/build.sh against the redismodule.h of the redis-module crate. A bench tool:
 * it is never loaded by the module or the tests. */
#define REDISMODULE_EXPERIMENTAL_API
#include "redismodule.h"
#include <string.h>

typedef struct {
    size_t len;
    char bytes[];
} FloorValue;

static RedisModuleType *FloorType;

static void floor_free(void *value) { RedisModule_Free(value); }

static FloorValue *floor_new(const char *bytes, size_t len) {
    FloorValue *v = RedisModule_Alloc(sizeof(FloorValue) + len);
    v->len = len;
    memcpy(v->bytes, bytes, len);
    return v;
}

static void floor_rdb_save(RedisModuleIO *rdb, void *value) {
    FloorValue *v = value;
    RedisModule_SaveStringBuffer(rdb, v->bytes, v->len);
}

static void *floor_rdb_load(RedisModuleIO *rdb, int encver) {
    (void)encver;
    size_t len = 0;
    char *bytes = RedisModule_LoadStringBuffer(rdb, &len);
    if (bytes == NULL) return NULL;
    FloorValue *v = floor_new(bytes, len);
    RedisModule_Free(bytes);
    return v;
}

static int floor_set(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 6) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    int type = RedisModule_KeyType(key);
    if (type != REDISMODULE_KEYTYPE_EMPTY && RedisModule_ModuleTypeGetType(key) != FloorType) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    size_t len = 0;
    const char *bytes = RedisModule_StringPtrLen(argv[5], &len);
    RedisModule_ModuleTypeSetValue(key, FloorType, floor_new(bytes, len));
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int floor_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    int status;
    if (type == REDISMODULE_KEYTYPE_EMPTY) {
        status = RedisModule_ReplyWithNull(ctx);
    } else if (RedisModule_ModuleTypeGetType(key) != FloorType) {
        status = RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    } else {
        FloorValue *v = RedisModule_ModuleTypeGetValue(key);
        status = RedisModule_ReplyWithStringBuffer(ctx, v->bytes, v->len);
    }
    RedisModule_CloseKey(key);
    return status;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "ndfloor", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    RedisModuleTypeMethods methods = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = floor_rdb_load,
        .rdb_save = floor_rdb_save,
        .free = floor_free,
    };
    FloorType = RedisModule_CreateDataType(ctx, "ndfloor00", 0, &methods);
    if (FloorType == NULL) return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "floor.set", floor_set, "write deny-oom", 1, 1, 1) ==
        REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "floor.get", floor_get, "readonly", 1, 1, 1) ==
        REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
