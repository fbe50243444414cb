using System.Text.RegularExpressions;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Xunit;

namespace Tomalign.Tests.Formats;

/// <summary>
/// SerialEM and Tomo5 .mdoc files, read from real ones (tests/data/mdoc: EMPIAR-10164's TS_01, dose-symmetric, 41 tilts;
/// a Tomo5/PACE-style Titan Krios series with PriorRecordDose): angles, stack and acquisition order, dose and pre-exposure,
/// tilt axis, pixel size; per-tilt mdocs and decimal commas.
/// </summary>
public class MdocTests
{
    private static string Data(string name) => ImodTestData.Path_("mdoc", name);

    [Fact]
    public void SerialEm_Ts01_AnglesOrderAxisAndPixel()
    {
        var m = SerialEmMdoc.Read(Data("EMPIAR10164_TS_01.mrc.mdoc"));
        Assert.Equal(41, m.Views.Count);
        Assert.Equal(85.3, m.TiltAxisAngle);
        Assert.Equal(5.4, m.PixelSpacing);
        Assert.Equal("TS_01.mrc", m.ImageFile);
        Assert.Equal([0.000999877, 3.00113, -2.99863, -5.99876, 6.00126], m.TiltAngles[..5]);
        // Sorted by tilt, the views run −60° … +60° in 3° steps: the stack is in acquisition order, not tilt order.
        var sorted = m.TiltAngles.OrderBy(t => t).ToArray();
        for (int i = 0; i < sorted.Length; i++) Assert.Equal(-60 + 3 * i, sorted[i], 0.01);
        Assert.NotEqual(sorted, m.TiltAngles);
        // Acquisition order from DateTime: here the stack's own order (SerialEM writes as it acquires) …
        Assert.Equal(Enumerable.Range(0, 41).ToArray(), m.AcquisitionOrder());
        // … and dose-symmetric: |tilt| never decreases by more than one step from one pair of views to the next.
        var byTime = Enumerable.Range(0, 41).OrderBy(i => m.AcquisitionOrder()[i]).Select(i => Math.Abs(m.TiltAngles[i])).ToArray();
        for (int r = 0; r + 2 < byTime.Length; r++) Assert.True(byTime[r + 2] >= byTime[r] - 0.01, $"rank {r}");
        // ExposureDose = 0 everywhere (not calibrated): the dose is unknown, never zero.
        Assert.Null(m.DosePerView());
        Assert.Null(m.PreExposure());
        Assert.All(m.Views, v => Assert.NotNull(v.Defocus));
        Assert.Equal(2.68083, m.Views[0].Defocus);
    }

    [Fact]
    public void Tomo5_Position12_DoseFromPriorRecordDose_AxisFromTheTitleLine()
    {
        var m = SerialEmMdoc.Read(Data("Position_12.mdoc"));
        Assert.Equal(6, m.Views.Count);
        Assert.Equal(-174.23, m.TiltAxisAngle);
        Assert.Equal(2.95, m.PixelSpacing);
        Assert.Equal(300.0, m.Voltage);
        Assert.Equal([9.98, 12.99, 6.99, 3.99, 15.99, 18.99], m.TiltAngles);
        Assert.Equal([0.0, 2.07, 4.14, 6.21, 8.27, 10.34], m.PreExposure()!);
        Assert.Equal([2.07, 2.07, 2.07, 2.06, 2.08, 2.07], m.DosePerView()!);
        Assert.Equal([0, 1, 2, 3, 4, 5], m.AcquisitionOrder());
    }

    [Fact]
    public void PreExposure_FromExposureDose_FollowsTheAcquisitionTime_NotTheStackOrder()
    {
        using var dir = new MrcTempDir();
        // TS_01 with a dose of 3 e/Å² per view and the sections written in tilt order (as a sorted stack's mdoc would be),
        // their DateTime kept: the pre-exposure must follow the times.
        var m = SerialEmMdoc.Read(Data("EMPIAR10164_TS_01.mrc.mdoc"));
        var order = Enumerable.Range(0, 41).OrderBy(i => m.TiltAngles[i]).ToArray();
        var text = new System.Text.StringBuilder("PixelSpacing = 5.4\n\n[T =     Tilt axis angle = 85.3, binning = 4]\n\n");
        for (int k = 0; k < order.Length; k++)
        {
            var v = m.Views[order[k]];
            text.Append($"[ZValue = {k}]\nTiltAngle = {v.TiltAngle.ToString(System.Globalization.CultureInfo.InvariantCulture)}\nExposureDose = 3\nDateTime = {v.DateTimeText}\n\n");
        }
        string path = dir.File("sorted.mrc.mdoc");
        File.WriteAllText(path, text.ToString());
        var s = SerialEmMdoc.Read(path);
        var pre = s.PreExposure()!;
        for (int k = 0; k < order.Length; k++) Assert.Equal(3.0 * order[k], pre[k], 9);   // the k-th sorted view was taken order[k]-th
    }

    [Fact]
    public void PerTiltMdocs_AreCombinedInTiltOrder_WithTheirDose()
    {
        using var dir = new MrcTempDir();
        string all = File.ReadAllText(Data("Position_12.mdoc"));
        int first = all.IndexOf("[ZValue", StringComparison.Ordinal);
        string header = all[..first];
        var sections = Regex.Split(all[first..], @"(?=\[ZValue = \d+\])").Where(p => p.Length > 0).ToArray();
        Assert.Equal(6, sections.Length);
        for (int i = 0; i < sections.Length; i++)
            File.WriteAllText(dir.File($"Position_12_{i + 1:D3}.mrc.mdoc"), header + Regex.Replace(sections[i], @"\[ZValue = \d+\]", "[ZValue = 0]"));
        var m = SerialEmMdoc.ReadAny(dir.Path);
        Assert.Equal(6, m.Files.Count);
        Assert.Equal([3.99, 6.99, 9.98, 12.99, 15.99, 18.99], m.TiltAngles);
        Assert.Equal([6.21, 4.14, 0.0, 2.07, 8.27, 10.34], m.PreExposure()!);
        Assert.Equal(-174.23, m.TiltAxisAngle);
        // The same through a pattern.
        Assert.Equal(m.TiltAngles, SerialEmMdoc.ReadAny(Path.Combine(dir.Path, "Position_12_*.mdoc")).TiltAngles);
    }

    [Fact]
    public void DecimalCommas_ReadTheSame()
    {
        using var dir = new MrcTempDir();
        string text = File.ReadAllText(Data("Position_12.mdoc"));
        string comma = Regex.Replace(text, @"(?<=\d)\.(?=\d)", ",");
        Assert.Contains("TiltAngle = 9,98", comma);
        string path = dir.File("comma.mdoc");
        File.WriteAllText(path, comma);
        var m = SerialEmMdoc.Read(path);
        Assert.Equal([9.98, 12.99, 6.99, 3.99, 15.99, 18.99], m.TiltAngles);
        Assert.Equal(-174.23, m.TiltAxisAngle);
        Assert.Equal(10.34, m.PreExposure()![5]);
    }

    [Fact]
    public void MdocBesideTheStack_GivesTheAngles_AndOneThatDoesNotFitIsIgnoredWithAWarning()
    {
        using var dir = new MrcTempDir();
        string stack = dir.File("TS_01.mrc");
        MrcCraft.Write(stack, MrcCraft.Header(4, 4, 41, 2, bigEndian: false), new byte[4 * 4 * 41 * 4]);
        File.Copy(Data("EMPIAR10164_TS_01.mrc.mdoc"), stack + ".mdoc");
        var meta = SeriesMetadata.Resolve(stack, null, null, 41);
        Assert.Equal(41, meta.Tilts.Length);
        Assert.Equal(3.00113, meta.Tilts[1]);
        Assert.Equal(85.3, meta.TiltAxis);
        Assert.Equal(5.4, meta.PixelSizeAngstrom);
        Assert.StartsWith("mdoc ", meta.AnglesSource);
        Assert.Empty(meta.Warnings);

        // A 6-view mdoc given for a 41-view stack is an error naming both counts; found beside, it is ignored with a warning.
        var e = Assert.Throws<TomalignInputException>(() => SeriesMetadata.Resolve(stack, null, Data("Position_12.mdoc"), 41));
        Assert.Contains("6 views", e.Message);
        File.Delete(stack + ".mdoc");
        File.Copy(Data("Position_12.mdoc"), dir.File("TS_01.mdoc"));
        var angles = dir.File("TS_01.rawtlt");
        File.WriteAllLines(angles, Enumerable.Range(0, 41).Select(i => (-60 + 3 * i).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var withFile = SeriesMetadata.Resolve(stack, angles, null, 41);
        Assert.Equal(-60, withFile.Tilts[0]);
        Assert.Single(withFile.Warnings);
        Assert.Contains("ignored", withFile.Warnings[0]);
    }

    [Fact]
    public void AnAngleFileInAnotherOrderThanTheMdoc_DoesNotGiveTheMdocsDoseToTheWrongViews()
    {
        using var dir = new MrcTempDir();
        string stack = dir.File("Position_12.mrc");
        MrcCraft.Write(stack, MrcCraft.Header(4, 4, 6, 2, bigEndian: false), new byte[4 * 4 * 6 * 4]);
        File.Copy(Data("Position_12.mdoc"), dir.File("Position_12.mdoc"));
        string angles = dir.File("Position_12.rawtlt");

        // The stack's own order (the mdoc's): the pre-exposure is the mdoc's, view by view.
        File.WriteAllLines(angles, ["9.98", "12.99", "6.99", "3.99", "15.99", "18.99"]);
        var same = SeriesMetadata.Resolve(stack, angles, null, 6);
        Assert.Empty(same.Warnings);
        Assert.Equal([0.0, 2.07, 4.14, 6.21, 8.27, 10.34], same.PreExposure!);

        // Sorted angles against the mdoc's acquisition order: the dose would land on the wrong views, so it is not used.
        File.WriteAllLines(angles, ["3.99", "6.99", "9.98", "12.99", "15.99", "18.99"]);
        var sorted = SeriesMetadata.Resolve(stack, angles, null, 6);
        Assert.Null(sorted.PreExposure);
        Assert.Null(sorted.AcquisitionOrder);
        Assert.Contains("same order", Assert.Single(sorted.Warnings));
        Assert.Equal(-174.23, sorted.TiltAxis);   // what does not depend on the views is kept
    }
}
