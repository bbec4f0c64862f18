namespace Herd.Cli;

public static class HerdVersion
{
    public static string Current { get; } = typeof(HerdVersion).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
