namespace Tomalign.Tests.Formats;

/// <summary>Finds tests/data (committed test data) by walking up from the test binary to Gpu.sln.</summary>
internal static class ImodTestData
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Gpu.sln")))
                return Path.Combine(d.FullName, "tests", "data");
        throw new InvalidOperationException("cannot find Gpu.sln above " + AppContext.BaseDirectory);
    });

    public static string Path_(params string[] parts) => Path.Combine([Root.Value, .. parts]);

    public static string BB(string file) => Path_("imod-BB", file);
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class ImodTempDir : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("tomalign-imod-").FullName;
    public string File(string name) => Path.Combine(Dir, name);
    public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
}
