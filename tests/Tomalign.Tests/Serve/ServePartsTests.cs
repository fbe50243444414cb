using Tomalign.Cli.Serve;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Serve;

/// <summary>The parts of `serve` on their own: SerialEM's .mdoc, the settings file, the queue table, the path checks.</summary>
public sealed class ServePartsTests
{
    [Fact]
    public void MdocTiltAnglesAreReadInZOrder()
    {
        using var dir = new TempDir();
        string path = dir.File("s.mrc.mdoc");
        double[] angles = [-3.02, 0.01, 2.99, 6.0];
        File.WriteAllText(path, ServeFolders.Mdoc(angles));
        Assert.Equal(angles, SerialEmMdoc.ReadTiltAngles(path));
        // Sections out of order and CRLF line ends.
        File.WriteAllText(path, "PixelSpacing = 1\r\n[ZValue = 1]\r\nTiltAngle = 3\r\n[ZValue = 0]\r\nTiltAngle = -3\r\n[MontSection = 0]\r\nTiltAngle = 99\r\n");
        Assert.Equal([-3.0, 3.0], SerialEmMdoc.ReadTiltAngles(path));
    }

    [Theory]
    [InlineData("PixelSpacing = 1\n", "no [ZValue = N] section")]
    [InlineData("[ZValue = 0]\nTiltAngle = 1\n[ZValue = 2]\nTiltAngle = 3\n", "no section [ZValue = 1]")]
    [InlineData("[ZValue = 0]\nTiltAngle = 1\n[ZValue = 1]\nMagnification = 3\n", "[ZValue = 1] has no TiltAngle")]
    [InlineData("[ZValue = 0]\nTiltAngle = one\n", "line 2: TiltAngle 'one' is not a number")]
    [InlineData("[ZValue = 0]\nTiltAngle = 1\n[ZValue = 0]\nTiltAngle = 1\n", "[ZValue = 0] is repeated")]
    public void ABrokenMdocIsOneClearError(string text, string problem)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.mdoc");
        File.WriteAllText(path, text);
        var e = Assert.Throws<TomalignInputException>(() => SerialEmMdoc.ReadTiltAngles(path));
        Assert.Contains(problem, e.Message);
        Assert.Contains("bad.mdoc", e.Message);
    }

    [Fact]
    public void SettingsAreReadWithDefaultsAndCheckedField_byField()
    {
        var s = ServeSettings.Parse("""{ "tiltAxis": "auto", "beadDiameter": 10, "thickness": 60, "method": "SIRT", "iterations": 5, "bin": 2, "axisProfiles": "off" }""", "s.json");
        Assert.Null(s.TiltAxis);
        Assert.Equal("off", s.AxisProfiles);
        Assert.Equal("off", s.ToSpec("a.mrc", "a.rawtlt", "out", "a", false).AxisProfiles);
        Assert.Contains("--axis-profiles", s.RunArguments("a.mrc", "a.rawtlt", "out", "a", false));
        Assert.Equal("auto", ServeSettings.Parse("{}", null).AxisProfiles);
        Assert.False(s.Markerless);
        Assert.Equal(10, s.BeadDiameter);
        Assert.Equal(2, s.Bin);
        Assert.Equal(s, ServeSettings.Parse(s.ToJson(), null)); // a job's copy reads back the same
        Assert.True(ServeSettings.Parse("{}", null).Markerless); // no beads: markerless
        Assert.Equal(85, ServeSettings.Parse("""{ "tiltAxis": 85 }""", null).TiltAxis);

        foreach (var (json, problem) in new[]
        {
            ("""{ "thickness": 60, "thicknes": 1 }""", "unknown field 'thicknes'"),
            ("""{ "thickness": "thin" }""", "field 'thickness' has the wrong type"),
            ("""{ "markerless": true, "beadDiameter": 10 }""", "both"),
            ("""{ "method": "fbp" }""", "unknown method 'fbp'"),
            ("""{ "tiltAxis": "sideways" }""", "neither an angle nor auto"),
            ("""{ "bin": 0 }""", "bin 0"),
            ("""{ "axisProfiles": "sometimes" }""", "axis-profiles sometimes"),
            ("""[1]""", "not a JSON object"),
            ("""{ "thickness": """, "not valid JSON"),
        })
        {
            var e = Assert.Throws<TomalignInputException>(() => ServeSettings.Parse(json, "settings.json"));
            Assert.Contains(problem, e.Message);
            Assert.Contains("settings.json", e.Message);
        }
    }

    [Fact]
    public void TheQueueKeepsOneJobPerStackAndRequeuesInterruptedOnes()
    {
        using var dir = new TempDir();
        string db = dir.File("q.db");
        using (var store = JobStore.Open(db))
        {
            var (a, added) = store.Add("/data/a.mrc", "/data/a.rawtlt", "{}");
            Assert.True(added);
            Assert.False(store.Add("/data/a.mrc", "/data/a.rawtlt", "{}").Added);
            var (b, _) = store.Add("/data/other/a.st", "/data/other/a.rawtlt", "{}");
            Assert.Equal("a", a.Name);
            Assert.Equal("a-2", b.Name); // one output folder per series
            var claimed = store.ClaimNext()!;
            Assert.Equal(a.Id, claimed.Id);
            Assert.Equal((JobStates.Running, 1), (claimed.State, claimed.Attempts));
            store.SetStage(a.Id, "coarse");
        }
        // As after a kill: the running job is queued again, to resume; the other is untouched.
        using (var store = JobStore.Open(db))
        {
            Assert.Equal(1, store.RequeueInterrupted());
            var a = store.Get(1)!;
            Assert.Equal((JobStates.Queued, true, 1, "coarse"), (a.State, a.Resume, a.Attempts, a.Stage));
            Assert.Equal(a.Id, store.ClaimNext()!.Id);
            store.Finish(a.Id, JobStates.Done, null);
            Assert.False(store.Retry(a.Id)); // done
            Assert.True(store.CancelQueued(2));
            Assert.True(store.Retry(2));
            Assert.Equal([JobStates.Done, JobStates.Queued], store.List().Select(j => j.State));
            Assert.Equal(2, store.Get(1)!.Attempts);
        }
    }

    [Fact]
    public void PathsAreCheckedAgainstTheFolders()
    {
        using var dir = new TempDir();
        string watch = Directory.CreateDirectory(dir.File("watch")).FullName;
        string outDir = Directory.CreateDirectory(dir.File("out")).FullName;
        var guard = new PathGuard(watch, outDir);
        Assert.Equal(Path.Combine(watch, "a.mrc"), guard.Check("a.mrc", watch).Full);
        Assert.Equal(Path.Combine(outDir, "x", "a.mrc"), guard.Check(Path.Combine(outDir, "x", "a.mrc"), watch).Full);
        Assert.Equal(400, guard.Check("../out/a.mrc", watch).Status);
        Assert.Equal(400, guard.Check("", watch).Status);
        Assert.Equal(403, guard.Check("/etc/passwd", watch).Status);
        Assert.Equal(403, guard.Check(dir.File("watchful/a.mrc"), watch).Status);
        Assert.Equal(403, guard.Check(watch, watch).Status); // the folder itself is not a file in it
        Assert.True(PathGuard.IsPlainFileName("a.rec"));
        foreach (string bad in new[] { "", "..", "../a", "a/b", "a\\b", "/a", ".hidden", "%2e%2e" })
            Assert.False(PathGuard.IsPlainFileName(bad), bad);
    }
}

/// <summary>`tomalign serve` refuses bad options at once, with one clear message.</summary>
public sealed class ServeCommandTests
{
    [Fact]
    public void BadOptionsEndInOneClearMessage()
    {
        using var dir = new TempDir();
        string settings = dir.File("s.json");
        File.WriteAllText(settings, """{ "thickness": 50, "colour": "blue" }""");
        foreach (var (args, message) in new[]
        {
            (new[] { "serve", "--watch", dir.File("missing"), "--out", dir.File("out") }, "is not a folder"),
            (new[] { "serve", "--watch", dir.Path, "--out", dir.File("out"), "--settings", settings }, "unknown field 'colour'"),
            (new[] { "serve", "--watch", dir.Path, "--out", dir.File("out"), "--settings", dir.File("none.json") }, "none.json: does not exist"),
            (new[] { "serve", "--watch", dir.Path, "--out", dir.File("out"), "--workers", "0" }, "--workers 0"),
            (new[] { "serve", "--watch", dir.Path, "--out", dir.File("out"), "--settle", "-1" }, "--settle -1"),
        })
        {
            var r = CliRunner.Run(args);
            Assert.True(r.ExitCode == Tomalign.Cli.ExitCodes.InputError, r.ToString());
            Assert.Contains(message, r.Err);
            Assert.DoesNotContain("   at ", r.Err);
        }
    }

    [Fact]
    public async Task ASecondServiceOnTheSameOutputFolderIsRefused()
    {
        using var folders = new ServeFolders();
        await using (var first = await InProcessServe.StartAsync(folders))
        {
            var r = CliRunner.Run("serve", "--watch", folders.Watch, "--out", folders.Out, "--urls", "http://127.0.0.1:0");
            Assert.True(r.ExitCode == Tomalign.Cli.ExitCodes.InputError, r.ToString());
            Assert.Contains("is used by another tomalign serve", r.Err);
            Assert.Empty(await first.Client.JobsAsync()); // the first one goes on
        }
        // Once it has stopped, the folder is free.
        await using var second = await InProcessServe.StartAsync(folders);
        Assert.Empty(await second.Client.JobsAsync());
    }
}
