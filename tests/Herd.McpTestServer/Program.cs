using System.ComponentModel;
using ModelContextProtocol.Server;

// A small MCP server for Herd's tests (docs/mcp.md), built on the official SDK's server side.
//   herd-mcp-test-server                stdio
//   herd-mcp-test-server --http         streamable HTTP on 127.0.0.1, a free port; prints its URL on the first line
//   --hang-on-start                     never answers initialize (the client must time out)
//   --fail-on-start                     exits with code 3 before speaking
// MCP_TEST_STARTS=FILE                  appends one line per start (how many servers a run started)
if (Environment.GetEnvironmentVariable("MCP_TEST_STARTS") is { Length: > 0 } starts)
    File.AppendAllText(starts, $"{Environment.ProcessId}\n");
if (args.Contains("--fail-on-start"))
{
    Console.Error.WriteLine("test server: failing on purpose");
    return 3;
}
if (args.Contains("--hang-on-start"))
{
    await Task.Delay(Timeout.Infinite);
    return 0;
}
if (args.Contains("--http"))
{
    var web = WebApplication.CreateBuilder();
    web.Logging.ClearProviders();
    web.WebHost.UseUrls("http://127.0.0.1:0");
    web.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = false).WithTools<TestTools>();
    var app = web.Build();
    app.MapMcp("/mcp");
    await app.StartAsync();
    Console.WriteLine(app.Urls.First() + "/mcp");
    Console.Out.Flush();
    await app.WaitForShutdownAsync();
    return 0;
}
var host = Host.CreateApplicationBuilder();
host.Logging.ClearProviders();
host.Services.AddMcpServer().WithStdioServerTransport().WithTools<TestTools>();
await host.Build().RunAsync();
return 0;

[McpServerToolType]
public sealed class TestTools
{
    [McpServerTool(Name = "echo"), Description("Echoes the text back.")]
    public static string Echo([Description("Text to echo")] string text) =>
        $"echo: {text} (env MCP_TEST_VALUE={Environment.GetEnvironmentVariable("MCP_TEST_VALUE")})";

    [McpServerTool(Name = "add"), Description("Adds two numbers.")]
    public static int Add(int a, int b) => a + b;

    [McpServerTool(Name = "write_file"), Description("Writes text to a file and says where.")]
    public static string WriteFile(string path, string text)
    {
        File.WriteAllText(path, text);
        return "wrote " + path;
    }

    [McpServerTool(Name = "crash"), Description("Ends the server process at once.")]
    public static string Crash()
    {
        Environment.Exit(9);
        return "unreachable";
    }
}
