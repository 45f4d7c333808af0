-- Leaky bucket. KEYS[1] = bucket; ARGV = cost, capacity, rate/s, write (1|0).
-- Returns {allowed (1|0), level after, retry-after ms} (numbers as strings).
local cost, cap, rate, write = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'level', 'last')
local level, last = tonumber(b[1]) or 0, tonumber(b[2])
if last then
  level = math.max(0, level - (now - last) * rate)
end
local allowed, retry = 0, 0
if level + cost <= cap then
  allowed = 1
  level = level + cost
elseif rate > 0 then
  retry = (level + cost - cap) / rate * 1000
else
  retry = 1e15
end
if write == 1 then
  redis.call('HSET', KEYS[1], 'level', tostring(level), 'last', tostring(now))
  local ttl = 60
  if rate > 0 then ttl = math.ceil(cap / rate) + 1 end
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {allowed, tostring(level), tostring(retry)}
