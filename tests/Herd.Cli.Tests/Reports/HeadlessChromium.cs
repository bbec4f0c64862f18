using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Herd.Cli.Tests.Reports;

/// <summary>
/// A real headless Chromium (Debian package <c>chromium</c>) driven over the DevTools protocol: open a page, collect
/// console errors and uncaught exceptions, evaluate script, take a screenshot. Only the loopback debugging port is used.
/// </summary>
public sealed partial class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _errors = [];
    private TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nextId;
    private Task? _reader;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <value>Console errors, uncaught exceptions and error log entries seen so far.</value>
    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
                return _errors.ToArray();
        }
    }

    public static string? Executable => new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    public static async Task<HeadlessChromium> StartAsync(int width = 1280, int height = 900)
    {
        var exe = Executable ?? throw new InvalidOperationException("Chromium is not installed: `apt-get install -y chromium` (.ci/run does this).");
        var profile = Path.Combine(Path.GetTempPath(), "herd-chromium-" + Guid.NewGuid().ToString("N")[..8]);
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                     "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                     $"--user-data-dir={profile}", $"--window-size={width},{height}", "--hide-scrollbars", "about:blank" })
            psi.ArgumentList.Add(arg);
        var process = Process.Start(psi)!;
        var chromium = new HeadlessChromium(process, profile);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? browserUrl = null;
        while (browserUrl is null)
        {
            var line = await process.StandardError.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("Chromium exited before it listened for DevTools.");
            if (DevToolsLine().Match(line) is { Success: true } m)
                browserUrl = m.Groups[1].Value;
        }
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is not null)
            {
            }
        });
        var port = new Uri(browserUrl).Port;
        using var http = new HttpClient();
        var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list", timeout.Token))!.AsArray();
        var page = targets.First(t => (string?)t!["type"] == "page")!;
        await chromium._socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), timeout.Token);
        chromium._reader = Task.Run(chromium.ReadLoopAsync);
        await chromium.SendAsync("Runtime.enable");
        await chromium.SendAsync("Log.enable");
        await chromium.SendAsync("Page.enable");
        await chromium.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
        return chromium;
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();

    /// <summary>Navigates and waits for the load event; returns the milliseconds it took.</summary>
    public async Task<double> OpenAsync(string url)
    {
        _loaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Stopwatch.StartNew();
        await SendAsync("Page.navigate", new JsonObject { ["url"] = url });
        await _loaded.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return watch.Elapsed.TotalMilliseconds;
    }

    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var reply = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (reply["exceptionDetails"] is { } ex)
            throw new InvalidOperationException("script failed: " + ex.ToJsonString());
        return reply["result"]?["value"];
    }

    /// <summary>Polls an expression until it is true (the page's own timers decide when, not a sleep here).</summary>
    public async Task WaitForAsync(string condition, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        await EvaluateAsync($$"""
            new Promise((resolve, reject) => {
              const deadline = Date.now() + {{(int)(until - DateTime.UtcNow).TotalMilliseconds}};
              (function poll() { if ({{condition}}) resolve(true); else if (Date.now() > deadline) reject(new Error("timed out: " + {{System.Text.Json.JsonSerializer.Serialize(condition)}})); else requestAnimationFrame(poll); })();
            })
            """);
    }

    public async Task<byte[]> ScreenshotAsync(bool fullPage = false)
    {
        var args = new JsonObject { ["format"] = "png" };
        if (fullPage)
        {
            var height = (await EvaluateAsync("document.documentElement.scrollHeight"))!.GetValue<double>();
            var width = (await EvaluateAsync("document.documentElement.clientWidth"))!.GetValue<double>();
            args["captureBeyondViewport"] = true;
            args["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = width, ["height"] = height, ["scale"] = 1 };
        }
        var reply = await SendAsync("Page.captureScreenshot", args);
        return Convert.FromBase64String((string)reply["data"]!);
    }

    private async Task<JsonNode> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, _stop.Token);
        return await tcs.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[1 << 20];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close)
                    break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage)
                    continue;
                var node = JsonNode.Parse(message.ToArray())!;
                message.SetLength(0);
                if (node["id"] is { } idNode && _pending.TryRemove(idNode.GetValue<int>(), out var tcs))
                {
                    if (node["error"] is { } error)
                        tcs.TrySetException(new InvalidOperationException(error.ToJsonString()));
                    else
                        tcs.TrySetResult(node["result"] ?? new JsonObject());
                    continue;
                }
                switch ((string?)node["method"])
                {
                    case "Page.loadEventFired":
                        _loaded.TrySetResult();
                        break;
                    case "Runtime.exceptionThrown":
                        Add("exception: " + node["params"]!["exceptionDetails"]!.ToJsonString());
                        break;
                    case "Runtime.consoleAPICalled" when (string?)node["params"]!["type"] is "error" or "assert":
                        Add("console: " + node["params"]!["args"]!.ToJsonString());
                        break;
                    case "Log.entryAdded" when (string?)node["params"]!["entry"]!["level"] == "error":
                        Add("log: " + (string?)node["params"]!["entry"]!["text"] + " " + (string?)node["params"]!["entry"]!["url"]);
                        break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
    }

    private void Add(string error)
    {
        lock (_errors)
            _errors.Add(error);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
        }
        if (_reader is not null)
            await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(5)));
        _socket.Dispose();
        _process.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
