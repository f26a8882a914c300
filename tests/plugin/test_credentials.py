"""A credential is normalised in one place before it leaves (plugin/credentials.py): ID numbers with an upper-case
X and a valid check digit, card numbers upper-case with their card_sn, nothing sent when a number is wrong."""
import pytest

from plugin.credentials import Credential, normalise
from plugin.errors import InvalidInput, RxlaneError


def test_an_id_number_with_a_lower_case_x_goes_out_upper_case():
    assert normalise(Credential("02", " 36012219550923102x ")).cert_no == "36012219550923102X"


@pytest.mark.parametrize("number", ["360121196805122011", "36012219550923102", "3601221955092310211", "ABC"])
def test_an_id_number_whose_check_digit_is_wrong_is_refused_and_never_sent(number):
    with pytest.raises(RxlaneError) as err:
        normalise(Credential("02", number))
    assert err.value.code == "ID_NUMBER_INVALID" and err.value.http_status == 422 and "校验位" in err.value.message_zh


def test_a_card_number_goes_out_upper_case_and_needs_the_chips_card_sn():
    assert normalise(Credential("03", "a36010201", "360100d15600000500a1b2c3d4e5f601")) == \
        Credential("03", "A36010201", "360100D15600000500A1B2C3D4E5F601")
    with pytest.raises(InvalidInput) as err:
        normalise(Credential("03", "A36010201"))
    assert err.value.details["field"] == "card_sn" and "读卡器" in err.value.message_zh


def test_an_e_voucher_qr_value_is_kept_as_scanned():
    assert normalise(Credential("01", "4260173956812345670001360100")).cert_no == "4260173956812345670001360100"
    with pytest.raises(InvalidInput):
        normalise(Credential("01", "  "))


def test_a_patient_born_before_their_county_code_existed_is_not_refused():
    """ID numbers carry the county code of issue: 东湖区 (360102) dates from 1983, yet people born in 1950 there
    hold 360102… numbers. Only the GB 11643 check character and the birth date are ours to judge."""
    from stdnum.cn import ric
    body = "36010219500705005"
    number = body + ric.calc_check_digit(body + "0")
    assert not ric.is_valid(number)                      # python-stdnum's birthplace rule would refuse them
    assert normalise(Credential("02", number)).cert_no == number


@pytest.mark.parametrize("number", ["360102195002300058", "3601021950070500X8", "36010219500705005"])
def test_an_impossible_birth_date_or_a_malformed_number_is_refused(number):
    with pytest.raises(RxlaneError) as err:
        normalise(Credential("02", number))
    assert err.value.code == "ID_NUMBER_INVALID"
