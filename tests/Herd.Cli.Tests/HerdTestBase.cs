using Herd.Testing;

namespace Herd.Cli.Tests;

/// <summary>A scripted model server, a temp working directory and a temp config root for each test.</summary>
public abstract class HerdTestBase : IAsyncLifetime
{
    protected TempDirectory Work { get; } = new("herd-work");
    protected TempDirectory Config { get; } = new("herd-config");
    protected ScriptedModelServer Server { get; private set; } = null!;

    protected HerdProcess Herd => new(Server.BaseUrl, Work.Path, Config.Path);

    public async Task InitializeAsync() => Server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Work.Dispose();
        Config.Dispose();
    }
}
