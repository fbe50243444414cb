using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Simulation;
using Tomalign.Tests.Patches;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Cli;

/// <summary>`tomalign align --markerless` and `tomalign patch` end to end on a simulated raw series.</summary>
public sealed class AlignCliTests(ITestOutputHelper output)
{
    private const int Size = 384;
    private const int Seed = 21;

    private static SimulatedSeries Series() => new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(Size) with { Seed = Seed });

    // Markerless tests here fix the tilts at the nominal ones: solved per view, patch landmarks compress the tilt range
    // (±60° → about ±52° on this series, issue 14), and the quality verdict rightly ends such a run unreliable (exit 4).
    [Fact]
    public void MarkerlessAlignWritesTheChainAndAlignsTheSeries()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", $"{Size}", "--seed", $"{Seed}", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        string outDir = dir.File("align");
        r = CliRunner.Run("align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--markerless", "--tilt", "fixed",
            "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        foreach (var f in new[] { "sim.prexf", "sim.prexg", "sim.fid", "sim.xf", "sim.tlt", "sim.tltxf", "sim.resid", "simfid.xyz", "sim.align.json", "sim.aln" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"{f} missing\n{r}");
        // The .aln says what the .xf says.
        var (alnXf, alnTilts) = Tomalign.Core.Formats.AreTomoAln.Read(Path.Combine(outDir, "sim.aln")).ToImod();
        var xfRead = Tomalign.Core.Formats.ImodText.ReadXf(Path.Combine(outDir, "sim.xf"));
        for (int i = 0; i < xfRead.Length; i++)
            foreach (var (x, y) in new[] { (0.0, 0.0), (Size, 0.0), (0.0, Size), (Size, Size) })
            {
                var a = xfRead[i].Apply(x, y, Size / 2.0, Size / 2.0);
                var b = alnXf[i].Apply(x, y, Size / 2.0, Size / 2.0);
                Assert.True(Math.Abs(a.X - b.X) < 0.01 && Math.Abs(a.Y - b.Y) < 0.01, $"view {i}: .aln maps ({x}, {y}) to {b}, .xf to {a}");
            }
        Assert.Equal(Tomalign.Core.Formats.ImodText.ReadAngles(Path.Combine(outDir, "sim.tlt")), alnTilts.Select(t => Math.Round(t, 2)).ToArray());

        var series = Series();
        var xf = ImodText.ReadXf(Path.Combine(outDir, "sim.xf"));
        double error = PatchTrackerTests.AlignmentErrorAfterGauge(series, xf);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "sim.align.json")));
        double mean = doc.RootElement.GetProperty("results").GetProperty("residualMean").GetDouble();
        output.WriteLine($"markerless align: residual mean {mean:F3} px, alignment error after the gauge {error:F3} px");
        // Measured 0.76 px (bin 2 chosen automatically; coarse alone 0.82 px, true bead positions through the same solve 0.44 px);
        // with the multi-lag patch tracks (whole where rigid) 0.42 px.
        Assert.True(error < 1.0, $"alignment error {error:F3} px after the gauge");
        // The residual bound as it was set when the tracker gave pieces of 16 views, each its own 3-D point: the same quantity is
        // measured on this run's tracks cut into those pieces and solved as align solves them (tilts fixed). The report's
        // residualMean is now that of whole tracks (one 3-D point per 41-view track fits less freely: 1.30 px here) and is
        // not compared with the old bound; the whole tracks are checked by their own consistency below.
        double pieces = PieceResidualMean(outDir, Size);
        output.WriteLine($"residual mean of the tracks cut into pieces of {Tomalign.Core.Patches.PatchTracker.AutoPieceLength} views: {pieces:F3} px");
        Assert.True(pieces < 1.2, $"residual mean {pieces:F3} px of the tracks in pieces");
        Assert.True(mean < 2 * pieces, $"whole-track residual mean {mean:F3} px against {pieces:F3} px in pieces");
        double links = doc.RootElement.GetProperty("results").GetProperty("patchLinkResidualPixels").GetDouble();
        Assert.True(links < Tomalign.Core.Patches.PatchTracker.MaxConsistentLinkResidualPixels, $"patch link residual {links:F3} px");

        // --resume reuses the coarse and landmark files and gives the same transforms.
        var before = ImodText.ReadXf(Path.Combine(outDir, "sim.xf"));
        r = CliRunner.Run("align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--markerless", "--tilt", "fixed",
            "--device", "cpu", "--resume", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("resume", r.Err);
        var after = ImodText.ReadXf(Path.Combine(outDir, "sim.xf"));
        // The model stores float32 coordinates, so the re-solve differs only in the last digits.
        for (int i = 0; i < before.Length; i++)
            Assert.True(Math.Abs(before[i].Dx - after[i].Dx) < 0.01 && Math.Abs(before[i].Dy - after[i].Dy) < 0.01 && Math.Abs(before[i].A11 - after[i].A11) < 1e-5,
                $"view {i}: {ImodText.FormatXf(before[i])} vs {ImodText.FormatXf(after[i])}");
    }

    /// <summary>
    /// The residual mean of an align run's landmarks (NAME.fid) cut into pieces of <see cref="Tomalign.Core.Patches.PatchTracker.AutoPieceLength"/>
    /// views overlapping by 4 (the tracker's pieces before whole tracks), each piece its own 3-D point, through align's robust
    /// solve with the tilts fixed at the nominal ones.
    /// </summary>
    private static double PieceResidualMean(string outDir, int size)
    {
        var observations = Tomalign.Core.Formats.ImodModel.Read(Path.Combine(outDir, "sim.fid")).ToObservations();
        var pieces = new List<Tomalign.Core.Solve.LandmarkObservation>();
        int id = 0;
        foreach (var track in observations.GroupBy(o => o.Landmark))
        {
            var byView = track.GroupBy(o => o.View).ToDictionary(g => g.Key, g => g.First());
            foreach (var piece in Tomalign.Core.Patches.PatchTracker.Pieces(byView.Keys.Order().ToArray(), Tomalign.Core.Patches.PatchTracker.AutoPieceLength, 4))
            {
                if (piece.Length < 3) continue;
                pieces.AddRange(piece.Select(v => byView[v] with { Landmark = id }));
                id++;
            }
        }
        var tilts = ImodText.ReadAngles(Path.Combine(outDir, "sim.tlt"));
        var options = new Tomalign.Core.Solve.SolveOptions
        {
            Robust = true, WeightWholeTracks = true, Tilt = Tomalign.Core.Solve.VariableOption.Fixed,
            Magnification = Tomalign.Core.Solve.VariableOption.Auto, TiltPrior = Tomalign.Core.Solve.TiltPriorOption.Auto,
        };
        var solved = new Tomalign.Core.Solve.BundleSolver(new Tomalign.Cpu.CpuBundleNormalEquations())
            .Solve(new Tomalign.Core.Solve.SolveInput(pieces, size, size, tilts, 85), options);
        return solved.Overall.Mean;
    }

    /// <summary>
    /// `--axis-profiles on` adds the refinement after the solve: the report says what it corrected, NAME.tltxf and NAME.xf
    /// carry it (still NAME.prexg then NAME.tltxf), the reference view is not moved; `auto` on a specimen thick against the
    /// field estimates the thickness and leaves the solve as it is; a bad value is one clear error.
    /// (The series' 90 px slab in 384 px is too thick for the profiles to help; the accuracy is tested in AxisProfileRefinerTests.)
    /// </summary>
    [Fact]
    public void AxisProfilesOnRefinesAfterTheSolveAndTheFilesAgree()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", $"{Size}", "--seed", $"{Seed}", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        string[] Args(string name, string profiles) => ["align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--markerless", "--tilt", "fixed",
            "--device", "cpu", "--out", dir.Path, "--name", name, "--axis-profiles", profiles];
        r = CliRunner.Run(Args("off", "off"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run(Args("on", "on"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("on.align.json")));
        var ap = doc.RootElement.GetProperty("results").GetProperty("axisProfiles");
        Assert.True(ap.GetProperty("matches").GetInt32() > 0);
        int reference = ap.GetProperty("referenceView").GetInt32();
        Assert.False(JsonDocument.Parse(File.ReadAllText(dir.File("off.align.json"))).RootElement.GetProperty("results").TryGetProperty("axisProfiles", out _));
        var prexg = ImodText.ReadXf(dir.File("on.prexg"));
        var tltxf = ImodText.ReadXf(dir.File("on.tltxf"));
        var xfOn = ImodText.ReadXf(dir.File("on.xf"));
        var xfOff = ImodText.ReadXf(dir.File("off.xf"));
        for (int i = 0; i < xfOn.Length; i++)
            Assert.True(Same(Tomalign.Core.Geometry.Xf.Product(prexg[i], tltxf[i]), xfOn[i]), $"view {i}");
        // The same landmarks and solve (the runs are reproducible), so the views differ by the refinement only; the reference not at all.
        Assert.True(Same(xfOn[reference], xfOff[reference]), $"{ImodText.FormatXf(xfOn[reference])} vs {ImodText.FormatXf(xfOff[reference])}");
        Assert.Contains(Enumerable.Range(0, xfOn.Length), i => !Same(xfOn[i], xfOff[i]));

        // auto (the default) estimates the thickness and, for this slab of 90 px in 384 px (more than 1/12 of the field), does not refine.
        r = CliRunner.Run(Args("auto", "auto"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using (var autoDoc = JsonDocument.Parse(File.ReadAllText(dir.File("auto.align.json"))))
        {
            var results = autoDoc.RootElement.GetProperty("results");
            double thickness = results.GetProperty("specimenThickness").GetProperty("pixels").GetDouble();
            output.WriteLine($"estimated thickness {thickness:F1} px (slab {SimulationOptions.ForSize(Size).ThicknessPixels} px)");
            Assert.InRange(thickness, Size / 12.0, 2 * SimulationOptions.ForSize(Size).ThicknessPixels);
            Assert.False(results.GetProperty("axisProfiles").GetProperty("applied").GetBoolean());
        }
        var xfAuto = ImodText.ReadXf(dir.File("auto.xf"));
        Assert.All(Enumerable.Range(0, xfAuto.Length), i => Assert.True(Same(xfAuto[i], xfOff[i]), $"view {i}"));

        r = CliRunner.Run(Args("bad", "sometimes"));
        // .xf files hold the matrix to 7 decimals and the shifts to 3.
        static bool Same(Tomalign.Core.Geometry.Xf a, Tomalign.Core.Geometry.Xf b) =>
            Math.Abs(a.A11 - b.A11) < 1e-5 && Math.Abs(a.A12 - b.A12) < 1e-5 && Math.Abs(a.A21 - b.A21) < 1e-5 && Math.Abs(a.A22 - b.A22) < 1e-5 &&
            Math.Abs(a.Dx - b.Dx) < 0.003 && Math.Abs(a.Dy - b.Dy) < 0.003;
        Assert.NotEqual(ExitCodes.Ok, r.ExitCode);
        Assert.Contains("--axis-profiles", r.Err);
    }

    [Fact]
    public void PatchWritesAModelThatSolveReads()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "256", "--seed", "4", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("coarse", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("patch", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--prexg", dir.File("sim.prexg"), "--tilt-axis", "85",
            "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var model = ImodModel.Read(dir.File("sim.fid"));
        var obs = model.ToObservations();
        Assert.True(obs.Count > 100, $"{obs.Count} observations");
        Assert.True(File.Exists(dir.File("sim.patch.json")));
        r = CliRunner.Run("solve", "--model", dir.File("sim.fid"), "--angles", dir.File("sim.rawtlt"), "--size", "256,256",
            "--prexg", dir.File("sim.prexg"), "--tilt-axis", "85", "--robust", "--device", "cpu", "--out", dir.File("solve"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal(41, ImodText.ReadXf(Path.Combine(dir.File("solve"), "sim.xf")).Length);
    }

    [Fact]
    public void TrackWritesABeadModelThatSolveAligns()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "256", "--seed", "6", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("coarse", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(256) with { Seed = 6 });
        string diameter = (2 * series.Options.BeadRadiusPixels).ToString(System.Globalization.CultureInfo.InvariantCulture);
        r = CliRunner.Run("track", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--prexg", dir.File("sim.prexg"), "--bead-diameter", diameter,
            "--beads", "12", "--tilt-axis", "85", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.True(File.Exists(dir.File("sim.track.json")) && File.Exists(dir.File("sim.fid.txt")));
        r = CliRunner.Run("solve", "--model", dir.File("sim.fid"), "--angles", dir.File("sim.rawtlt"), "--size", "256,256", "--prexg", dir.File("sim.prexg"),
            "--tilt-axis", "85", "--robust", "--tilt", "per-view", "--mag", "per-view", "--device", "cpu", "--out", dir.File("solve"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        double error = Tomalign.Core.Simulation.AlignmentCheck.ErrorAfterGauge(series, ImodText.ReadXf(Path.Combine(dir.File("solve"), "sim.xf")));
        // The stages before the solve, each turned by the nominal tilt axis (85°) to put it along Y as the truth has it:
        // nothing (the raw views) and the coarse alignment alone.
        var axis = Tomalign.Core.Geometry.Xf.RotationScale(-85, 1);
        double start = Tomalign.Core.Simulation.AlignmentCheck.ErrorAfterGauge(series, Enumerable.Repeat(axis, series.Raw.Nz).ToArray());
        double coarse = Tomalign.Core.Simulation.AlignmentCheck.ErrorAfterGauge(series,
            ImodText.ReadXf(dir.File("sim.prexg")).Select(g => Tomalign.Core.Geometry.Xf.Product(g, axis)).ToArray());
        var solvedTilts = ImodText.ReadAngles(Path.Combine(dir.File("solve"), "sim.tlt"));
        var tilts = Tomalign.Core.Simulation.AlignmentCheck.TiltError(series, solvedTilts);
        var nominal = Tomalign.Core.Simulation.AlignmentCheck.TiltError(series, ImodText.ReadAngles(dir.File("sim.rawtlt")));
        output.WriteLine($"track → solve at 256²: alignment error {error:F3} px after the gauge (raw views {start:F2} px, coarse {coarse:F3} px); " +
            $"tilts {tilts.Rms:F3}° RMS (max {tilts.Max:F3}°) from the truth, nominal {nominal.Rms:F3}° (max {nominal.Max:F3}°)");
        Assert.True(error < 0.6, $"alignment error {error:F3} px after the gauge");
        // Each stage must do its share: the solve must improve clearly on the coarse alignment, which improves on nothing.
        Assert.True(coarse < start / 2, $"coarse {coarse:F3} px, raw views {start:F3} px");
        Assert.True(error < coarse / 3, $"solved {error:F3} px, coarse alone {coarse:F3} px");
        // Per-view tilts solved from 12 beads: closer to the truth than the nominal tilts they start from.
        Assert.True(tilts.Rms < 0.75 * nominal.Rms, $"solved tilts {tilts.Rms:F3}° RMS from the truth, nominal {nominal.Rms:F3}°");
    }

    [Fact]
    public void TwoSurfacesAreMarkedAsTheTruthHasThem()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "384", "--seed", "12", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(384) with { Seed = 12 });
        string diameter = (2 * series.Options.BeadRadiusPixels).ToString(System.Globalization.CultureInfo.InvariantCulture);
        r = CliRunner.Run("align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", diameter,
            "--two-surfaces", "--device", "cpu", "--out", dir.File("a"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var model = ImodModel.Read(Path.Combine(dir.File("a"), "sim.fid"));
        var prexg = ImodText.ReadXf(Path.Combine(dir.File("a"), "sim.prexg"));
        int reference = series.ReferenceView, agree = 0, total = 0;
        var truth = series.TrueBeadProjections(reference, aligned: false).Select(t => prexg[reference].Apply(t.X, t.Y, 192, 192)).ToArray();
        foreach (var c in model.Objects[0].Contours)
        {
            var p = c.Points.FirstOrDefault(q => Math.Abs(q.Z - reference) < 0.5);
            if (p == default) continue;
            int j = Enumerable.Range(0, truth.Length).MinBy(k => Math.Pow(truth[k].X - p.X, 2) + Math.Pow(truth[k].Y - p.Y, 2));
            if (Math.Sqrt(Math.Pow(truth[j].X - p.X, 2) + Math.Pow(truth[j].Y - p.Y, 2)) > 1) continue;
            total++;
            if (c.Surface == (series.Beads[j].Z > 0 ? 2 : 1)) agree++;
        }
        output.WriteLine($"{agree} of {total} beads on the right surface");
        Assert.True(total >= 5, $"only {total} contours matched a bead");
        Assert.Equal(total, agree);
        Assert.Contains(model.Objects[0].Contours, c => c.Surface == 1);
        Assert.Contains(model.Objects[0].Contours, c => c.Surface == 2);
    }

    [Fact]
    public void RunGoesFromTheRawStackToATomogramAndResumes()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "192", "--seed", "3", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(192) with { Seed = 3 });
        string diameter = (2 * series.Options.BeadRadiusPixels).ToString(System.Globalization.CultureInfo.InvariantCulture);
        string outDir = dir.File("run");
        r = CliRunner.Run("run", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", diameter,
            "--thickness", "48", "--bin", "2", "--log", "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        foreach (var f in new[] { "sim.xf", "sim.ali", "sim.rec", "sim.run.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"{f} missing\n{r}");
        float[] fromMemory;
        using (var rec = MrcReader.Open(Path.Combine(outDir, "sim.rec")))
        {
            Assert.Equal((96, 96, 48), (rec.Nx, rec.Ny, rec.Nz));
            fromMemory = rec.ReadAll().Data;
        }
        // The first run reconstructed from the aligned stack it held in memory (and wrote sim.ali beside it).
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "sim.run.json"))))
            Assert.True(doc.RootElement.GetProperty("results").GetProperty("alignedStackInMemory").GetBoolean());
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.ali"));
        // Without its tomogram, the resumed run keeps the aligned stack (its record matches) and reconstructs from the file.
        File.Delete(Path.Combine(outDir, "sim.rec"));
        r = CliRunner.Run("run", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", diameter,
            "--thickness", "48", "--bin", "2", "--log", "--resume", "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(outDir, "sim.ali")));   // the aligned stack was kept
        // ... and the resumed run reconstructed from that file: the same tomogram, bit for bit.
        using (var rec = MrcReader.Open(Path.Combine(outDir, "sim.rec")))
        {
            var fromFile = rec.ReadAll().Data;
            Assert.True(fromFile.Select(BitConverter.SingleToInt32Bits).SequenceEqual(fromMemory.Select(BitConverter.SingleToInt32Bits)),
                "the tomogram from the aligned stack in memory differs from the one read back from sim.ali");
        }

        // The aligned stack cannot be written (a folder holds its name): the run fails naming it, with no tomogram and no temporary file.
        File.Delete(Path.Combine(outDir, "sim.ali"));
        File.Delete(Path.Combine(outDir, "sim.rec"));
        Directory.CreateDirectory(Path.Combine(outDir, "sim.ali"));
        r = CliRunner.Run("run", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", diameter,
            "--thickness", "48", "--bin", "2", "--log", "--resume", "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("sim.ali", r.Err);
        Assert.False(File.Exists(Path.Combine(outDir, "sim.rec")), r.ToString());
        Assert.DoesNotContain(Directory.GetFiles(outDir), f => f.Contains(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public void TiltAxisAutoIsSearchedAndReported()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "256", "--seed", "8", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("coarse", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "auto", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("sim.coarse.json")));
        double found = doc.RootElement.GetProperty("results").GetProperty("tiltAxisSearch").GetProperty("angle").GetDouble();
        Assert.InRange(found, 83, 87);
        Assert.Equal(found, doc.RootElement.GetProperty("results").GetProperty("tiltAxisDegrees").GetDouble(), 9);

        r = CliRunner.Run("coarse", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "sideways", "--out", dir.File("o"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("auto", r.Err);
    }

    [Fact]
    public void LightBeadsAreTrackedInAnInvertedSeries()
    {
        using var dir = new TempDir();
        var series = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(256) with { Seed = 6 });
        var inverted = new Tomalign.Core.Imaging.ImageStack(256, 256, series.Raw.Nz);
        for (int i = 0; i < inverted.Data.Length; i++) inverted.Data[i] = 2 - series.Raw.Data[i];
        MrcWriter.WriteStack(dir.File("inv.mrc"), inverted);
        ImodText.WriteAngles(dir.File("inv.rawtlt"), series.NominalTilts);
        ImodText.WriteXf(dir.File("inv.prexg"), series.AligningTransforms.Select(x => Tomalign.Core.Geometry.Xf.Product(x, Tomalign.Core.Geometry.Xf.RotationScale(85, 1, 0, 0))).ToArray());
        string diameter = (2 * series.Options.BeadRadiusPixels).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var r = CliRunner.Run("track", dir.File("inv.mrc"), "--angles", dir.File("inv.rawtlt"), "--prexg", dir.File("inv.prexg"), "--bead-diameter", diameter,
            "--light-beads", "--beads", "6", "--tilt-axis", "85", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("inv.track.json")));
        var results = doc.RootElement.GetProperty("results");
        Assert.Equal(6, results.GetProperty("seeded").GetInt32());
        Assert.True(results.GetProperty("meanTrackLength").GetDouble() > 0.8 * series.Raw.Nz, r.ToString());
    }

    [Fact]
    public void TrackRefusesABadBeadDiameter()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("track", dir.File("x.mrc"), "--angles", dir.File("x.rawtlt"), "--bead-diameter", "0", "--tilt-axis", "85", "--out", dir.File("o"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("bead diameter", r.Err);
    }

    [Fact]
    public void AlignNeedsOneLandmarkKind()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("align", dir.File("none.mrc"), "--angles", dir.File("none.rawtlt"), "--tilt-axis", "85", "--out", dir.File("o"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("--markerless", r.Err);
        Assert.False(Directory.Exists(dir.File("o")));
    }
}
