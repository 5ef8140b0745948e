-- Replays pre-signed webhooks, one line each ("<signature>\t<urlencoded form>"), from the file
-- named by WRK_REQUESTS. Each wrk connection walks its own slice, so no request is sent twice.
local path = os.getenv("WRK_REQUESTS")
local lines = {}
for line in io.lines(path) do lines[#lines + 1] = line end
local counter = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  counter = id * 1000003
end

function request()
  counter = counter + 1
  local line = lines[((counter - 1) % #lines) + 1]
  local tab = string.find(line, "\t", 1, true)
  local signature = string.sub(line, 1, tab - 1)
  local body = string.sub(line, tab + 1)
  return wrk.format("POST", "/sms/inbound", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = signature,
  }, body)
end
