-- One script, dispatched on ARGV[1]; ARGV[2] is the key prefix, ARGV[3] "now" from an injected clock
-- (tests that move time), or empty: then the Redis server's clock. Every machine's reservations
-- expire, and every entry is stamped, by that one clock, so machines whose clocks disagree still
-- agree on when a reservation is dead.
-- Amounts travel as integer strings and are added with INCRBY; Lua numbers (doubles) only compare.
if redis.replicate_commands then redis.replicate_commands() end  -- TIME before writes (Redis < 7)
local op, P = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end

local function unhold(books, amount)
  for book in string.gmatch(books, '[^\n]+') do
    if redis.call('DECRBY', P .. ':h:' .. book, amount) <= 0 then
      redis.call('DEL', P .. ':h:' .. book)
    end
  end
end

local function sweep()
  local ids = redis.call('ZRANGEBYSCORE', P .. ':exp', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(ids) do
    local key = P .. ':r:' .. id
    local fields = redis.call('HMGET', key, 'amount', 'books', 'state')
    if fields[3] == 'live' then
      unhold(fields[2], fields[1])
      redis.call('HSET', key, 'state', 'expired')
      redis.call('EXPIRE', key, TOMBSTONE_SECONDS)
    end
    redis.call('ZREM', P .. ':exp', id)
  end
  return #ids
end

local function check(limits, amount)
  for i, limit in ipairs(limits) do
    local spent, held = 0, 0
    for _, counter in ipairs(limit[2]) do
      spent = spent + tonumber(redis.call('GET', P .. ':c:' .. counter) or '0')
      held = held + tonumber(redis.call('GET', P .. ':h:' .. counter) or '0')
    end
    if spent + held + amount > tonumber(limit[1]) then
      return {0, i, spent, held}
    end
  end
  return nil
end

local swept = sweep()
if op == 'expire' then
  return swept
elseif op == 'reserve' then
  -- id, amount, ttl, books, limits
  local id, amount, ttl, books = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local refusal = check(cjson.decode(ARGV[8]), tonumber(amount))
  if refusal then return refusal end
  for book in string.gmatch(books, '[^\n]+') do
    redis.call('INCRBY', P .. ':h:' .. book, amount)
  end
  redis.call('HSET', P .. ':r:' .. id, 'amount', amount, 'books', books, 'ttl', ttl,
             'state', 'live')
  redis.call('ZADD', P .. ':exp', now + tonumber(ttl), id)
  return {1, string.format('%.6f', now + tonumber(ttl))}
elseif op == 'extend' then
  -- id, extra, limits
  local id, extra = ARGV[4], ARGV[5]
  local key = P .. ':r:' .. id
  local fields = redis.call('HMGET', key, 'books', 'ttl', 'state')
  if fields[3] ~= 'live' then return {-1} end
  local refusal = check(cjson.decode(ARGV[6]), tonumber(extra))
  if refusal then return refusal end
  for book in string.gmatch(fields[1], '[^\n]+') do
    redis.call('INCRBY', P .. ':h:' .. book, extra)
  end
  local amount = redis.call('HINCRBY', key, 'amount', extra)
  local expires = now + tonumber(fields[2])
  redis.call('ZADD', P .. ':exp', expires, id)
  return {1, amount, string.format('%.6f', expires)}
elseif op == 'settle' or op == 'release' then
  -- id, then for settle: cost and the entry's fields as name, value pairs
  local id = ARGV[4]
  local key = P .. ':r:' .. id
  local fields = redis.call('HMGET', key, 'amount', 'books', 'state')
  if not fields[3] then return 0 end
  if fields[3] == 'live' then
    unhold(fields[2], fields[1])
    redis.call('ZREM', P .. ':exp', id)
  end
  redis.call('DEL', key)
  if op == 'settle' then
    local cost = ARGV[5]
    for book in string.gmatch(fields[2], '[^\n]+') do
      redis.call('INCRBY', P .. ':c:' .. book, cost)
    end
    redis.call('XADD', P .. ':log', '*', 'res', id, 'cost', cost, 'at', string.format('%.6f', now),
               unpack(ARGV, 6))
  end
  return 1
elseif op == 'balances' then
  local out = {}
  for i = 4, #ARGV do
    out[#out + 1] = redis.call('GET', P .. ':c:' .. ARGV[i]) or '0'
    out[#out + 1] = redis.call('GET', P .. ':h:' .. ARGV[i]) or '0'
  end
  return out
end
return redis.error_reply('unknown ledger op ' .. op)
